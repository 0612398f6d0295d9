"""Hydra configs of `snail-train` (config.yaml) and `snail-evaluate` (evaluate.yaml); a package so that Hydra
finds them in an installed wheel."""
