"""widgetapi: a JWT-authenticated REST API for widgets, on Falcon and Peewee."""
