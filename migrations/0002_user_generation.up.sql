-- alembic revision c8dea6766159.
ALTER TABLE `user` ADD COLUMN `generation` VARCHAR(30) NULL;
