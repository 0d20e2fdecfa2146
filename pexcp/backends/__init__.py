"""Code generators that turn a validated plan into a program for a microcontroller."""
