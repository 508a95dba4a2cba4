"""Imported relatively by the function: the folder is a package, as under the worker."""

SPECIAL = "the literal route won"
