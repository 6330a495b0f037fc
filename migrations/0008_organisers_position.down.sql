DROP TABLE `organisers_position`;
