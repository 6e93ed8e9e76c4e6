"""Doors: each turns its input into the contract's Encounter and a Result into its output."""
