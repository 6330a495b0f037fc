-- The positions the website shows. INSERT IGNORE leaves a position that already exists
-- (the name is unique, compared case-insensitively) as it is.
INSERT IGNORE INTO `position` (`name`) VALUES
    ('운영팀'), ('디자이너'), ('iOS'), ('안드로이드'), ('프론트엔드'), ('백엔드');
