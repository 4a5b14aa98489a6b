"""classroomd: the device agent of a digital classroom."""

__version__ = "0.1.0"
