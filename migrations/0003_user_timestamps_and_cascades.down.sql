ALTER TABLE `team_user_association`
    DROP FOREIGN KEY `team_user_association_ibfk_1`,
    DROP FOREIGN KEY `team_user_association_ibfk_2`;
ALTER TABLE `team_user_association`
    ADD CONSTRAINT `team_user_association_ibfk_1` FOREIGN KEY (`team_id`) REFERENCES `team` (`id`),
    ADD CONSTRAINT `team_user_association_ibfk_2` FOREIGN KEY (`user_id`) REFERENCES `user` (`id`);

ALTER TABLE `sns_account` DROP FOREIGN KEY `sns_account_ibfk_1`;
ALTER TABLE `sns_account`
    ADD CONSTRAINT `sns_account_ibfk_1` FOREIGN KEY (`user_id`) REFERENCES `user` (`id`);

ALTER TABLE `position_user_association`
    DROP FOREIGN KEY `position_user_association_ibfk_1`,
    DROP FOREIGN KEY `position_user_association_ibfk_2`;
ALTER TABLE `position_user_association`
    ADD CONSTRAINT `position_user_association_ibfk_1` FOREIGN KEY (`position_id`) REFERENCES `position` (`id`),
    ADD CONSTRAINT `position_user_association_ibfk_2` FOREIGN KEY (`user_id`) REFERENCES `user` (`id`);

ALTER TABLE `user` DROP COLUMN `updated_at`, DROP COLUMN `created_at`;
