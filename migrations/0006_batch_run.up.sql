-- One row per run of a batch job (the Slack member sync): queued by a schedule or an
-- admin's force-run, then running, then succeeded or failed.
CREATE TABLE `batch_run` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `job` VARCHAR(64) NOT NULL,
    -- 'schedule' | 'manual'
    `trigger` VARCHAR(16) NOT NULL,
    -- The admin's SSO id for a force-run; NULL for the schedule and the command line.
    `requested_by` VARCHAR(64) NULL,
    -- 'queued' | 'running' | 'succeeded' | 'failed'
    `status` VARCHAR(16) NOT NULL,
    `queued_at` DATETIME(6) NOT NULL,
    `started_at` DATETIME(6) NULL,
    `finished_at` DATETIME(6) NULL,
    -- {"created": n, "updated": n, "unchanged": n, "skipped": n, "failed": n}
    `stats` JSON NULL,
    `error` TEXT NULL,
    -- The job's name while the run is queued or running, NULL once it has finished: the
    -- unique key lets one run of a job be active at a time, across every Lambda
    -- execution environment and the local server.
    `active_job` VARCHAR(64) NULL,
    PRIMARY KEY (`id`),
    UNIQUE KEY `batch_run_active_job` (`active_job`),
    KEY `batch_run_job` (`job`, `id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
