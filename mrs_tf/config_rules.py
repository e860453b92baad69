"""The rules an MRS config must satisfy beyond its keys' types (which
embodied.Config checks). Imports no TensorFlow: configs are checked before
anything starts."""

import embodied

TF_CHOICES = {
    'jit': ('auto', 'xla', 'graph'),
    'platform': ('auto', 'cpu', 'gpu'),
    'precision': ('auto', '16', '32'),
}
EXPL_REWARDS = ('min_recon', 'vanilla')


def check(config):
    """Raises embodied.ConfigError naming every broken rule, in one line."""
    problems = (
        _skill_problems(config) + _tf_problems(config)
        + _eval_choice_problems(config))
    if config.imag_horizon % config.skill_duration:
        problems.append(
            f'imag_horizon ({config.imag_horizon}) must be a multiple of '
            f'skill_duration ({config.skill_duration})')
    if problems:
        raise embodied.ConfigError('; '.join(problems))


def _skill_problems(config):
    """Resolutions (paper Sec. 3.1) and the exploration reward (Eq. 6) they
    feed."""
    skills = config.mrs.skills
    finite = [s for s in skills if s != 'inf']
    expl = config.mrs.expl_reward
    if any(not isinstance(s, int) or s < 1 for s in finite):
        return [f"mrs.skills takes positive step counts and 'inf', "
                f'got {skills}']
    problems = []
    if finite and max(finite) >= config.replay.chunk:
        problems.append(
            f'the longest skill ({max(finite)} steps) needs replay.chunk > '
            f'{max(finite)}, got {config.replay.chunk}')
    if expl not in EXPL_REWARDS:
        problems.append(
            f"mrs.expl_reward must be {' or '.join(EXPL_REWARDS)}, "
            f'got {expl!r}')
    elif expl == 'min_recon' and not finite:
        problems.append(
            'mrs.expl_reward min_recon needs a finite skill in mrs.skills')
    elif expl == 'vanilla' and 'inf' not in skills:
        problems.append(
            'mrs.expl_reward vanilla needs the inf skill in mrs.skills')
    return problems


def _tf_problems(config):
    problems = []
    for key, choices in TF_CHOICES.items():
        value = str(config.tf[key])
        if value not in choices:
            problems.append(
                f"tf.{key} must be {', '.join(choices[:-1])} or "
                f'{choices[-1]}, got {value!r}')
    devices = config.tf.devices
    if devices < 1 or config.batch_size % devices:
        problems.append(
            f'tf.devices must be positive and divide batch_size '
            f'({config.batch_size}), got {devices}')
    return problems


def _eval_choice_problems(config):
    """The choice-head replacement of paper Table 3."""
    choice, skills = config.eval_choice, config.mrs.skills
    fixed = choice.startswith('fixed:') and choice[6:].isdigit()
    if choice not in ('learned', 'random') and not fixed:
        return [f'eval_choice must be learned, random or fixed:<i>, '
                f'got {choice!r}']
    if fixed and int(choice[6:]) >= len(skills):
        return [f'eval_choice {choice} names no resolution of {skills}']
    return []
