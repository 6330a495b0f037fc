-- Every successful write, appended in the same transaction as the write itself.
CREATE TABLE `audit_log` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    -- The caller's SSO id, or `slack-sync`.
    `actor` VARCHAR(64) NOT NULL,
    `action` VARCHAR(32) NOT NULL,
    `entity` VARCHAR(32) NOT NULL,
    `entity_id` VARCHAR(64) NOT NULL,
    -- {"field": [old, new], ...}
    `changes` JSON NOT NULL,
    PRIMARY KEY (`id`),
    KEY `audit_log_entity` (`entity`, `entity_id`, `id`),
    KEY `audit_log_actor` (`actor`, `id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
