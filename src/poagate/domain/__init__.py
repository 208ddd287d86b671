"""The pure decision core: identifiers, events, reference data, rules and the gate.

Nothing in this package performs I/O, reads the clock or imports a framework (see
ARCHITECTURE.md); everything else in poagate may import it.
"""
