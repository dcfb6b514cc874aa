//! Hardware addresses: chips, cores, neurons, chip-local addresses, virtual ids and core masks.
//!
//! Each is a small newtype that can only hold a value the board has, so code past the
//! constructors (and JSON deserialisation, which goes through them) never range-checks again.
//! Global neuron id = 1024·chip + 256·core + neuron; chip-local address = 256·core + neuron.

use serde::{Deserialize, Serialize};

use super::board::{
    CHIPS, CORES_PER_CHIP, NEURONS_ON_BOARD, NEURONS_PER_CHIP, NEURONS_PER_CORE, RESERVED_CHIP_LOCAL_ADDRESS,
    RESERVED_VIRTUAL_ID, VIRTUAL_NEURONS,
};

/// A value outside the range of the address kind named by `kind`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressOutOfRange {
    /// Which address kind rejected the value ("neuron id", "chip", …).
    pub kind: &'static str,
    /// The rejected value.
    pub value: usize,
    /// One past the largest accepted value.
    pub limit: usize,
}

impl std::fmt::Display for AddressOutOfRange {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} {} is out of range (must be below {})", self.kind, self.value, self.limit)
    }
}

fn check(kind: &'static str, value: usize, limit: usize) -> Result<(), AddressOutOfRange> {
    if value < limit { Ok(()) } else { Err(AddressOutOfRange { kind, value, limit }) }
}

/// One chip of the board, 0..4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct ChipId(u8);

impl ChipId {
    /// The chip with this number, if the board has it.
    pub fn new(chip: usize) -> Result<ChipId, AddressOutOfRange> {
        check("chip", chip, CHIPS)?;
        Ok(ChipId(chip as u8))
    }
    /// Every chip, in order.
    pub fn all() -> impl Iterator<Item = ChipId> {
        (0..CHIPS as u8).map(ChipId)
    }
    /// The chip number.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl TryFrom<u8> for ChipId {
    type Error = AddressOutOfRange;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        ChipId::new(usize::from(value))
    }
}

impl From<ChipId> for u8 {
    fn from(chip: ChipId) -> u8 {
        chip.0
    }
}

/// One core of the board: a chip and a core on it. Orders by chip, then core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawCoreId", into = "RawCoreId")]
pub struct CoreId {
    chip: ChipId,
    core: u8,
}

/// The JSON form of a [`CoreId`], checked on the way in.
#[derive(Serialize, Deserialize)]
struct RawCoreId {
    chip: u8,
    core: u8,
}

impl CoreId {
    /// Core `core` (0..4) of `chip`.
    pub fn new(chip: ChipId, core: usize) -> Result<CoreId, AddressOutOfRange> {
        check("core", core, CORES_PER_CHIP)?;
        Ok(CoreId { chip, core: core as u8 })
    }
    /// Every core of the board, chip by chip.
    pub fn all() -> impl Iterator<Item = CoreId> {
        ChipId::all().flat_map(|chip| (0..CORES_PER_CHIP as u8).map(move |core| CoreId { chip, core }))
    }
    /// The chip the core is on.
    pub fn chip(self) -> ChipId {
        self.chip
    }
    /// The core's number on its chip, 0..4.
    pub fn core(self) -> usize {
        usize::from(self.core)
    }
    /// The core's number on the board, 0..16 (Rockpool's bias-group index).
    pub fn board_index(self) -> usize {
        self.chip.index() * CORES_PER_CHIP + self.core()
    }
    /// Neuron `neuron` (0..256) of this core.
    pub fn neuron(self, neuron: usize) -> Result<NeuronId, AddressOutOfRange> {
        check("neuron in core", neuron, NEURONS_PER_CORE)?;
        NeuronId::new(self.board_index() * NEURONS_PER_CORE + neuron)
    }
}

impl TryFrom<RawCoreId> for CoreId {
    type Error = AddressOutOfRange;
    fn try_from(raw: RawCoreId) -> Result<Self, Self::Error> {
        CoreId::new(ChipId::try_from(raw.chip)?, usize::from(raw.core))
    }
}

impl From<CoreId> for RawCoreId {
    fn from(core: CoreId) -> RawCoreId {
        RawCoreId { chip: core.chip.0, core: core.core }
    }
}

/// A 10-bit chip-local address, 256·core + neuron: what a CAM entry matches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Address(u16);

impl Address {
    /// The address with this value, if it fits in 10 bits.
    pub fn new(address: usize) -> Result<Address, AddressOutOfRange> {
        check("chip-local address", address, NEURONS_PER_CHIP)?;
        Ok(Address(address as u16))
    }
    /// The address as a number.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
    /// Whether this is the reserved address 0 (an empty CAM reads as it).
    pub fn is_reserved(self) -> bool {
        self.0 == RESERVED_CHIP_LOCAL_ADDRESS
    }
}

impl TryFrom<u16> for Address {
    type Error = AddressOutOfRange;
    fn try_from(value: u16) -> Result<Self, Self::Error> {
        Address::new(usize::from(value))
    }
}

impl From<Address> for u16 {
    fn from(address: Address) -> u16 {
        address.0
    }
}

/// A hardware neuron's global id, 0..4096.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct NeuronId(u16);

impl NeuronId {
    /// The neuron with this global id, if the board has it.
    pub fn new(id: usize) -> Result<NeuronId, AddressOutOfRange> {
        check("neuron id", id, NEURONS_ON_BOARD)?;
        Ok(NeuronId(id as u16))
    }
    /// The global id as a number.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
    /// The chip the neuron is on.
    pub fn chip(self) -> ChipId {
        ChipId((self.index() / NEURONS_PER_CHIP) as u8)
    }
    /// The core the neuron is on.
    pub fn core(self) -> CoreId {
        CoreId { chip: self.chip(), core: ((self.index() % NEURONS_PER_CHIP) / NEURONS_PER_CORE) as u8 }
    }
    /// The neuron's slot in its core, 0..256.
    pub fn slot(self) -> usize {
        self.index() % NEURONS_PER_CORE
    }
    /// The neuron's chip-local address, which CAMs on every chip match against.
    pub fn address(self) -> Address {
        Address((self.index() % NEURONS_PER_CHIP) as u16)
    }
}

impl TryFrom<u16> for NeuronId {
    type Error = AddressOutOfRange;
    fn try_from(value: u16) -> Result<Self, Self::Error> {
        NeuronId::new(usize::from(value))
    }
}

impl From<NeuronId> for u16 {
    fn from(id: NeuronId) -> u16 {
        id.0
    }
}

/// A virtual (FPGA input) neuron, 0..1024; its id is also its chip-local address on the input chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct VirtualId(u16);

impl VirtualId {
    /// The virtual neuron with this id, if the FPGA has it.
    pub fn new(id: usize) -> Result<VirtualId, AddressOutOfRange> {
        check("virtual id", id, VIRTUAL_NEURONS)?;
        Ok(VirtualId(id as u16))
    }
    /// The id as a number.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
    /// The chip-local address the input chip's CAMs see for events of this virtual neuron.
    pub fn address(self) -> Address {
        Address(self.0)
    }
    /// Whether this is the reserved virtual id 0.
    pub fn is_reserved(self) -> bool {
        self.0 == RESERVED_VIRTUAL_ID
    }
}

impl TryFrom<u16> for VirtualId {
    type Error = AddressOutOfRange;
    fn try_from(value: u16) -> Result<Self, Self::Error> {
        VirtualId::new(usize::from(value))
    }
}

impl From<VirtualId> for u16 {
    fn from(id: VirtualId) -> u16 {
        id.0
    }
}

/// A 4-bit one-hot set of cores on one chip (bit k = core k), as in SRAM entries and input events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct CoreMask(u8);

impl CoreMask {
    /// The mask with no core.
    pub const EMPTY: CoreMask = CoreMask(0);
    /// The mask with these bits, if only the low four are set.
    pub fn new(bits: u8) -> Result<CoreMask, AddressOutOfRange> {
        check("core mask", usize::from(bits), 1 << CORES_PER_CHIP)?;
        Ok(CoreMask(bits))
    }
    /// This mask plus core `core` (its number on the chip, as from [`CoreId::core`]).
    pub fn with(self, core: CoreId) -> CoreMask {
        CoreMask(self.0 | (1 << core.core))
    }
    /// Whether core `core` (on whatever chip the mask is for) is in the mask.
    pub fn contains(self, core: CoreId) -> bool {
        self.0 & (1 << core.core) != 0
    }
    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }
    /// How many cores are in the mask.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    /// Whether the mask has no core.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl TryFrom<u8> for CoreMask {
    type Error = AddressOutOfRange;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        CoreMask::new(value)
    }
}

impl From<CoreMask> for u8 {
    fn from(mask: CoreMask) -> u8 {
        mask.0
    }
}

impl std::fmt::Display for NeuronId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = self.core();
        write!(formatter, "{} (chip {}, core {}, neuron {})", self.0, core.chip().index(), core.core(), self.slot())
    }
}

impl std::fmt::Display for CoreId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "chip {} core {}", self.chip.index(), self.core)
    }
}
