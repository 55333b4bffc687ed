DROP TABLE concepts;
DROP TABLE items;
DROP TABLE social_links;
