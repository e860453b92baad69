"""What the programs in scripts/ share, with public names (no program
imports another). TensorFlow is imported only inside functions: those
programs spawn environment processes, which must never load it.

  runs          run records: logdirs, runs.json, upstream Director's
                logdirs, presets, final scores over seeds
  curves        learning curves binned by step, choice shares, prunings
  statistics    purity, mutual information, choice accuracy and their
                shuffled baselines; sample stds over runs
  evaluations   eval_scores_<choice>.json summarised, Welch's t-tests
  trained       a trained run's agent: loading, rollouts, decoded goals
  choices       the manager's choices per visited state (purity.json)
  controllability  whether each skill head steers the imagined future
  timing        train and policy step times, mrs/director ratios
  op_profile    a train step's time per op type and name scope
"""
