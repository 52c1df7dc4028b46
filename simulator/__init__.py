"""The simulator: virtual elevators, pumps and power panels that publish telemetry as devices would.

Layers, from pure to I/O:
- ``elevator``, ``pump``, ``power``: pure physics per asset kind (``initial`` and ``step``), no clock, no I/O.
- ``faults``: the fault kinds and what the physics sees of them; ``scenario``: faults on a timeline (TOML).
- ``engine.Simulation``: every asset of a site stepped on simulated time, deterministic for a seed.
- ``publisher.run_publisher``: the simulation over MQTT (one client per device, 1 Hz, paced by ``speed``).
- ``files.write_run``: the simulation to CSV files and ground-truth labels, as fast as it computes.
- ``cli.simulate``: what ``facwatch simulate`` calls.
"""
