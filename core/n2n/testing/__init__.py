"""Conformance tests that every expert plugin's and strategy's test suite subclasses.

```python
from n2n.testing import ExpertTests

class TestMyExpert(ExpertTests):
    expert_name = "my-expert"

    @pytest.fixture
    def checkpoint_dir(self, tmp_path):   # a tiny model in the library's native format
        ...; return tmp_path

    @pytest.fixture
    def inputs(self):                      # a valid batch of >= 2 inputs (experts that encode)
        return ["a cat", "a dog"]
```
The `expert` fixture defaults to the expert loaded from `checkpoint_dir`; override it to test shipped
weights. Every test here asserts behaviour a user relies on; none needs the network.
"""

from .experts import ConditionalGeneratorTests, DefaultCheckpointTests, ExpertTests
from .helpers import Interrupt, TemporaryHome, check_script_needs_an_output_folder, interrupt_at, modules_imported_by
from .strategies import StrategyTests

__all__ = ["ConditionalGeneratorTests", "DefaultCheckpointTests", "ExpertTests", "Interrupt", "StrategyTests", "TemporaryHome",
           "check_script_needs_an_output_folder", "interrupt_at", "modules_imported_by"]
