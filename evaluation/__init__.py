"""Evaluation: every figure of the trained models against the papers, the baselines and real held-out
data, and the demo of the shipped models; may import motion, preprocessing, training and playback."""
