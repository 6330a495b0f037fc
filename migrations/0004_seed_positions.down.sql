-- Only the seeded positions nobody holds: a position in use stays with its users.
DELETE FROM `position`
WHERE `name` IN ('운영팀', '디자이너', 'iOS', '안드로이드', '프론트엔드', '백엔드')
  AND `id` NOT IN (SELECT `position_id` FROM `position_user_association`);
