"""Regression study (issue #25): ERM, mixup and C-Mixup on tables that ship inside pip packages."""
