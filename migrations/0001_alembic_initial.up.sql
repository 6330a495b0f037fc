-- The schema of the old server's alembic revision f2b7ce2c8874, column for column.
-- Keys and foreign keys are unnamed there too, so MySQL names them the same way.
CREATE TABLE `position` (
    `id` INT NOT NULL AUTO_INCREMENT,
    `name` VARCHAR(50) NOT NULL,
    PRIMARY KEY (`id`),
    UNIQUE KEY `name` (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `team` (
    `id` INT NOT NULL AUTO_INCREMENT,
    `name` VARCHAR(30) NOT NULL,
    `introduction` VARCHAR(1000) NULL,
    PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `user` (
    `id` INT NOT NULL AUTO_INCREMENT,
    `sso_id` VARCHAR(50) NULL,
    `username` VARCHAR(50) NULL,
    `image_url` VARCHAR(200) NULL,
    `first_name` VARCHAR(30) NOT NULL,
    `last_name` VARCHAR(30) NOT NULL,
    `department` VARCHAR(50) NULL,
    `college` VARCHAR(50) NULL,
    `phone_number` VARCHAR(30) NULL,
    `github_id` VARCHAR(50) NULL,
    `github_email` VARCHAR(50) NULL,
    `slack_id` VARCHAR(50) NULL,
    `slack_email` VARCHAR(50) NULL,
    `notion_email` VARCHAR(50) NULL,
    `apple_email` VARCHAR(50) NULL,
    `is_rookie` BOOL NOT NULL,
    `is_member` BOOL NOT NULL,
    `is_active` BOOL NOT NULL,
    `is_admin` BOOL NOT NULL,
    `introduction` VARCHAR(1000) NULL,
    PRIMARY KEY (`id`),
    UNIQUE KEY `slack_id` (`slack_id`),
    UNIQUE KEY `sso_id` (`sso_id`),
    UNIQUE KEY `username` (`username`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `position_user_association` (
    `position_id` INT NOT NULL,
    `user_id` INT NOT NULL,
    PRIMARY KEY (`position_id`, `user_id`),
    FOREIGN KEY (`position_id`) REFERENCES `position` (`id`),
    FOREIGN KEY (`user_id`) REFERENCES `user` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `sns_account` (
    `id` INT NOT NULL AUTO_INCREMENT,
    `user_id` INT NOT NULL,
    `name` VARCHAR(30) NOT NULL,
    `url` VARCHAR(200) NOT NULL,
    PRIMARY KEY (`id`),
    FOREIGN KEY (`user_id`) REFERENCES `user` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `team_user_association` (
    `team_id` INT NOT NULL,
    `user_id` INT NOT NULL,
    PRIMARY KEY (`team_id`, `user_id`),
    FOREIGN KEY (`team_id`) REFERENCES `team` (`id`),
    FOREIGN KEY (`user_id`) REFERENCES `user` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
