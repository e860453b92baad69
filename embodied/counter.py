import json
import threading


class Counter:
    """A step counter that can be compared and checkpointed."""

    def __init__(self, value=0):
        self.value = int(value)
        self._lock = threading.Lock()

    def increment(self, amount=1):
        with self._lock:
            self.value += amount

    def __int__(self):
        return self.value

    def __index__(self):
        return self.value

    def __eq__(self, other):
        return self.value == int(other)

    def __lt__(self, other):
        return self.value < int(other)

    def __le__(self, other):
        return self.value <= int(other)

    def __gt__(self, other):
        return self.value > int(other)

    def __ge__(self, other):
        return self.value >= int(other)

    def __repr__(self):
        return f'Counter({self.value})'

    def save(self, directory):
        (directory / 'counter.json').write_text(json.dumps(self.value))

    def load(self, directory):
        self.value = int(json.loads((directory / 'counter.json').read_text()))
