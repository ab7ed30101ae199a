"""Applying restorers to images: `load` (run directory, .keras file or pretrained name),
`tiles` (any image size, exactly stitched tiles from the measured receptive field), `apply`
(colour policy, batching by size, comparison strips) and `files` (input/output trees).
"""
