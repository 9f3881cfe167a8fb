"""tubeworks: a background-job system in one package.

Parts: a beanstalkd-compatible queue server (:mod:`tubeworks.queue`), a supervisord-compatible
supervisor (:mod:`tubeworks.supervisor`), clients (:mod:`tubeworks.client`) and a worker runtime
(:mod:`tubeworks.worker`).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
