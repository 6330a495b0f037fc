-- When a user row was created and last changed (the contract's created_at/updated_at).
-- Rows that predate this revision get the time of the migration.
ALTER TABLE `user`
    ADD COLUMN `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    ADD COLUMN `updated_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6);

-- The old foreign keys refuse to delete a user, position or team that still has links.
-- Deleting one now takes its links (memberships, positions, SNS accounts) with it.
ALTER TABLE `position_user_association`
    DROP FOREIGN KEY `position_user_association_ibfk_1`,
    DROP FOREIGN KEY `position_user_association_ibfk_2`;
ALTER TABLE `position_user_association`
    ADD CONSTRAINT `position_user_association_ibfk_1` FOREIGN KEY (`position_id`) REFERENCES `position` (`id`) ON DELETE CASCADE,
    ADD CONSTRAINT `position_user_association_ibfk_2` FOREIGN KEY (`user_id`) REFERENCES `user` (`id`) ON DELETE CASCADE;

ALTER TABLE `sns_account` DROP FOREIGN KEY `sns_account_ibfk_1`;
ALTER TABLE `sns_account`
    ADD CONSTRAINT `sns_account_ibfk_1` FOREIGN KEY (`user_id`) REFERENCES `user` (`id`) ON DELETE CASCADE;

ALTER TABLE `team_user_association`
    DROP FOREIGN KEY `team_user_association_ibfk_1`,
    DROP FOREIGN KEY `team_user_association_ibfk_2`;
ALTER TABLE `team_user_association`
    ADD CONSTRAINT `team_user_association_ibfk_1` FOREIGN KEY (`team_id`) REFERENCES `team` (`id`) ON DELETE CASCADE,
    ADD CONSTRAINT `team_user_association_ibfk_2` FOREIGN KEY (`user_id`) REFERENCES `user` (`id`) ON DELETE CASCADE;
