DROP TABLE channel_change_days;
DROP TABLE product_search;
