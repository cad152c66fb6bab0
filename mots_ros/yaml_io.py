"""Reading the project's YAML files (configs, parameter files, ablation files) with errors that name the file."""
from __future__ import annotations

import os

from mots_ros import MotsError


def read_yaml(path: str | os.PathLike, what: str = "") -> object:
    """The document of the YAML file ``path``; a MotsError naming it (and ``what`` it is) when it cannot be read
    or is not valid YAML."""
    import yaml

    label = f" {what}" if what else ""
    try:
        with open(path) as fh:
            return yaml.safe_load(fh)
    except OSError as e:
        raise MotsError(f"{path}: cannot read{label} ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise MotsError(f"{path}: not valid YAML ({e})") from None
