# GPU training image:
#   docker build -t mrs .
#   docker run --gpus all --rm mrs python scripts/gpu_check.py
#   docker run --gpus all -it --rm -v "$PWD/logdir:/mrs/logdir" mrs \
#     python train.py --configs dmc_vision --task dmc_hopper_hop --tf.platform gpu
# --tf.platform gpu: a container that cannot see its GPU stops with one line
# instead of training on the CPU.
FROM tensorflow/tensorflow:2.21.0-gpu

ENV MUJOCO_GL=egl \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=1

WORKDIR /mrs
COPY requirements.txt ./
COPY scripts/setup.sh scripts/
# No GPU is visible while the image builds: --gpu keeps TensorFlow's GPU
# build (the base image's).
RUN bash scripts/setup.sh --gpu --deps-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN bash scripts/setup.sh --gpu

CMD ["python", "train.py", "--configs", "dmc_vision", "--task", "dmc_hopper_hop", "--tf.platform", "gpu"]
