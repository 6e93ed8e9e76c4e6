"""dexacode: DXA (bone density) coding assistant and claim scrubber.

>>> import dexacode
>>> result = dexacode.code(encounter_dict)
>>> [(line.cpt, line.modifiers) for line in result.lines]
"""

from dexacode.coding import code
from dexacode.contract import CodingResult as Result
from dexacode.contract import ContractError, Encounter, parse_encounter
from dexacode.rulebook import InputError, RuleBook, RuleBookError, load_rulebook

__all__ = [
    "ContractError",
    "Encounter",
    "InputError",
    "Result",
    "RuleBook",
    "RuleBookError",
    "code",
    "load_rulebook",
    "parse_encounter",
]
__version__ = "0.1.0"
