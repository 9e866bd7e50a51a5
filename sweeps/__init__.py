"""Assumption maps: where each theorem's criterion holds over two assumption axes, over seeds, on Dask.

``python -m sweeps <map>`` (see ``sweeps/__main__.py``); maps in :mod:`sweeps.maps`, execution in
:mod:`sweeps.engine`, figure and boundary table in :mod:`sweeps.plot`.
"""
