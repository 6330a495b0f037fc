-- Which position is the organising team's (운영팀), by its id: the rule that only admins
-- add or remove it (docs/api.md) follows the position through a rename. One row at
-- most; deleting the position deletes the row (and the rule has nothing left to guard).
CREATE TABLE `organisers_position` (
    `id` TINYINT NOT NULL DEFAULT 1,
    `position_id` INT NOT NULL,
    PRIMARY KEY (`id`),
    UNIQUE KEY `organisers_position_position` (`position_id`),
    CONSTRAINT `organisers_position_one_row` CHECK (`id` = 1),
    CONSTRAINT `organisers_position_fk` FOREIGN KEY (`position_id`)
        REFERENCES `position` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Revision 4 seeded 운영팀 (or found it already there): that row is the one.
INSERT INTO `organisers_position` (`id`, `position_id`)
SELECT 1, `id` FROM `position` WHERE `name` = '운영팀';
