"""Screens of the labeltui app."""
