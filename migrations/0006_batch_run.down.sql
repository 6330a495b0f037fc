DROP TABLE `batch_run`;
