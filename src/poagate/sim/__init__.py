"""Seeded simulation of a smart-metering fleet and the DSP traffic it causes."""
