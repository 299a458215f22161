DROP TABLE confirmation_mails;
