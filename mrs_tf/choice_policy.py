"""The evaluation choice policies of paper Table 3 (`eval_choice`), read
without TensorFlow so that config checks can use them:

    learned            the choice head
    random             each resolution with equal probability
    fixed:<i>          always resolution i
    share:<p0>,<p1>..  resolution i with probability p_i (normalised),
                       drawn independently of the state: the learned
                       head's overall shares without its state dependence

Under adaptive pruning (pruning.py) random and share draw among the active
resolutions, renormalised; check_active refuses a policy that could only
play pruned ones.
"""

import math
import re

FREQUENCY_KEY = re.compile(r'^mean_log_choice_(\d+)$')


def parse(choice, count):
    """('learned', None), ('fixed', i) or ('shares', [p_0, ..., p_{N-1}])
    for `count` resolutions; ValueError with a one-line reason otherwise."""
    if choice == 'learned':
        return 'learned', None
    if choice == 'random':
        return 'shares', [1 / count] * count
    kind, _, value = choice.partition(':')
    if kind == 'fixed' and value.isdigit():
        if int(value) >= count:
            raise ValueError(
                f'eval_choice {choice} names no resolution: there are '
                f'{count} (fixed:0 to fixed:{count - 1})')
        return 'fixed', int(value)
    if kind == 'share':
        return 'shares', _shares(choice, value, count)
    raise ValueError(
        'eval_choice must be learned, random, fixed:<i> or '
        f'share:<p0>,...,<p{count - 1}>, got {choice!r}')


def check_active(choice, skills, active):
    """ValueError (one line) when the choice policy needs a pruned
    resolution: fixed:<i> naming one, or shares that all fall on pruned
    ones. skills: the resolutions; active: one bool per resolution."""
    kind, value = parse(choice, len(skills))
    kept = ', '.join(
        f'{skill} (fixed:{i})' for i, (skill, on) in enumerate(
            zip(skills, active)) if on)
    if kind == 'fixed' and not active[value]:
        raise ValueError(
            f'eval_choice {choice} names resolution {skills[value]}, which '
            f'this checkpoint has pruned; active resolutions: {kept}')
    if kind == 'shares' and not any(
            share > 0 for share, on in zip(value, active) if on):
        pruned = ', '.join(
            str(skill) for skill, on in zip(skills, active) if not on)
        raise ValueError(
            f'eval_choice {choice} gives every active resolution share 0 '
            f'(this checkpoint has pruned {pruned}); active resolutions: '
            f'{kept}')


def _shares(choice, value, count):
    try:
        shares = [float(part) for part in value.split(',')]
    except ValueError:
        shares = []
    if (len(shares) != count or not all(map(math.isfinite, shares))
            or min(shares) < 0 or sum(shares) <= 0):
        raise ValueError(
            f'eval_choice {choice} needs {count} non-negative finite '
            'shares, not all zero')
    return [share / sum(shares) for share in shares]


def frequencies(metrics):
    """Share of an episode's steps spent on each resolution, in resolution
    order, from the runtime's episode metrics (the mean_log_choice_<i>
    entries the policy's log_choice output leaves; empty without them)."""
    found = {
        int(match.group(1)): value for key, value in metrics.items()
        if (match := FREQUENCY_KEY.match(key))}
    return [found[i] for i in sorted(found)]
