"""The simulator: virtual elevators, pumps and power panels that publish telemetry as devices would.

Layers, from pure to I/O:
- ``elevator`` (+ ``elevator_block``), ``pump``, ``power``: pure physics per asset kind (``initial``, ``step``
  for one step, ``block`` for many at once), no clock, no I/O; ``signals``: shared profiles and filters.
- ``faults``: the fault kinds (the contract's names, findings, levels) and what the physics sees of them;
  ``scenario``: faults on a timeline (TOML); ``sensors``: calibration errors and sensor faults.
- ``runner`` and ``engine.Simulation``: every asset of a site run block by block on simulated time,
  deterministic for a seed, with the ground-truth labels.
- ``publisher.run_publisher``: the simulation over MQTT (one client per device, paced by ``speed``, device
  faults on the wire); ``load.run_load``: synthetic load for benchmarks.
- ``files.write_run``: the simulation to CSV files and ground-truth labels, as fast as it computes.
- ``cli``: what ``facwatch simulate`` calls; ``progress``: its progress bar.
"""
