DROP TABLE `team_user_association`;
DROP TABLE `sns_account`;
DROP TABLE `position_user_association`;
DROP TABLE `user`;
DROP TABLE `team`;
DROP TABLE `position`;
-- A database taken over from alembic keeps its alembic_version table until it goes
-- back to base; at base there is nothing left for it to describe.
DROP TABLE IF EXISTS `alembic_version`;
