DROP TABLE product_search;
