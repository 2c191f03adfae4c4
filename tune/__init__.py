"""Ray Tune glue: every `ray.tune` call of the project lives in this package."""
