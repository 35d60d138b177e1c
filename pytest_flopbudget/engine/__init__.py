"""The counting engine: torch only, no pytest. Importing this package imports nothing heavy.

Each module answers one question:

- :mod:`.tally`: what does an op cost, and to which module is it added (the dispatch mode and the tally);
- :mod:`.scopes`: which module is running, in which thread (module hooks);
- :mod:`.execution`: how a counted forward is executed, on real, meta or fake tensors, and undone
  (with :mod:`.preserve`);
- :mod:`.watch`: what watching a block of code adds;
- :mod:`.formulas` (one module per op family) and :mod:`.modules`: the costs themselves;
- :mod:`.inputs`: the one walker over a forward's inputs;
- :mod:`.conventions`, :mod:`.params`, :mod:`.report`, :mod:`.units`, :mod:`.replay`: the data around them.
"""
