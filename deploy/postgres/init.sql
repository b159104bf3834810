-- One database per service: services share nothing but events.
CREATE DATABASE sessions;
CREATE DATABASE goals;
CREATE DATABASE notifications;
