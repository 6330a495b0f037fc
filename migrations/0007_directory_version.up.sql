-- The directory version: one row moved by every change to what `GET /users` shows, in
-- the same transaction as the change (a trigger runs inside the writing statement, so a
-- rolled-back write leaves it alone). The list cache of the API functions keys its
-- answers by it; reading it is one primary-key lookup.
--
-- Triggers rather than writer code: every writer (the API functions, the Slack sync, an
-- operator's SQL) moves it without having to remember to. Cascaded foreign-key deletes
-- do not fire triggers, but each cascade starts from a row of a table below that does.
-- At run time the API needs only UPDATE on `directory_version`. Creating triggers on
-- RDS MySQL with binary logging needs `log_bin_trust_function_creators = 1` in the DB
-- parameter group (or SUPER, which RDS does not grant); see docs/list-cache.md.
CREATE TABLE `directory_version` (
    `id` TINYINT UNSIGNED NOT NULL,
    `version` BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO `directory_version` (`id`, `version`) VALUES (1, 1);

CREATE TRIGGER `user_after_insert_directory` AFTER INSERT ON `user` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `user_after_update_directory` AFTER UPDATE ON `user` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `user_after_delete_directory` AFTER DELETE ON `user` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `position_after_insert_directory` AFTER INSERT ON `position` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `position_after_update_directory` AFTER UPDATE ON `position` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `position_after_delete_directory` AFTER DELETE ON `position` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `team_after_insert_directory` AFTER INSERT ON `team` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `team_after_update_directory` AFTER UPDATE ON `team` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `team_after_delete_directory` AFTER DELETE ON `team` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `position_user_association_after_insert_directory` AFTER INSERT ON `position_user_association` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `position_user_association_after_update_directory` AFTER UPDATE ON `position_user_association` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `position_user_association_after_delete_directory` AFTER DELETE ON `position_user_association` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `sns_account_after_insert_directory` AFTER INSERT ON `sns_account` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `sns_account_after_update_directory` AFTER UPDATE ON `sns_account` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `sns_account_after_delete_directory` AFTER DELETE ON `sns_account` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `team_user_association_after_insert_directory` AFTER INSERT ON `team_user_association` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `team_user_association_after_update_directory` AFTER UPDATE ON `team_user_association` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;

CREATE TRIGGER `team_user_association_after_delete_directory` AFTER DELETE ON `team_user_association` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;
