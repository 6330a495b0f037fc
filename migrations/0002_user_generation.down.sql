ALTER TABLE `user` DROP COLUMN `generation`;
