"""Inverse kinematics: the 2-D humanoid and Franka Panda tasks (vectorised forward kinematics), solving
them by DRMM sampling, and damped-least-squares refinement; imports only `motion`."""
