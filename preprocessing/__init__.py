"""The batch job from raw mocap to Parquet datasets: segments, windows, splits, parallel workers, resume."""
