"""Instructor side of the diagnosing checks (never shipped to students).

- mistakes.py      working implementations of the common wrong answers
- fingerprints.py  their outputs (and the solution's) on the fixed probe inputs,
                   written as numbers into cs231n/check_data.json
"""
