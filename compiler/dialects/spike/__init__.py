"""The `spike` dialect: spiking-transformer operations on time-major tensors.

One module per family of ops; `Spike` is the dialect object to load into a context.
"""

from xdsl.ir import Dialect

from compiler.dialects.spike.attention import (
    SDSAOp,
    SSAOp,
    StochasticAttentionOp,
    TokenAttentionOp,
)
from compiler.dialects.spike.elementwise import (
    AddOp,
    DivOp,
    MulOp,
    ReduceMaxOp,
    ReduceMeanOp,
    ReduceSumOp,
    SubOp,
)
from compiler.dialects.spike.encoding import DecodeOp, EncodeOp
from compiler.dialects.spike.generic import OnnxRegionOp
from compiler.dialects.spike.layers import (
    AvgPoolOp,
    BatchNormOp,
    Conv2dOp,
    LayerNormOp,
    LinearOp,
    MatMulOp,
    MaxPoolOp,
)
from compiler.dialects.spike.moe import CombineOp, DispatchOp, MoEOp, RouteTopKOp, YieldOp
from compiler.dialects.spike.neurons import BernoulliOp, CubaLIFOp, IFOp, LeakyOp, LIFOp
from compiler.dialects.spike.shape_ops import ConcatOp, ReshapeOp, SplitOp, TransposeOp
from compiler.dialects.spike.structure import ConstantOp, GlobalOp, WeightOp
from compiler.dialects.spike.types import (
    EncodedSpikesType,
    LeakyResetMode,
    LeakyResetModeAttr,
    PlacementAttr,
    ResetMode,
    ResetModeAttr,
    SpikeTrainType,
)

Spike = Dialect(
    "spike",
    [
        GlobalOp,
        WeightOp,
        ConstantOp,
        LIFOp,
        IFOp,
        LeakyOp,
        CubaLIFOp,
        BernoulliOp,
        LinearOp,
        Conv2dOp,
        MatMulOp,
        BatchNormOp,
        LayerNormOp,
        MaxPoolOp,
        AvgPoolOp,
        AddOp,
        SubOp,
        MulOp,
        DivOp,
        ReduceSumOp,
        ReduceMeanOp,
        ReduceMaxOp,
        ReshapeOp,
        TransposeOp,
        ConcatOp,
        SplitOp,
        SSAOp,
        SDSAOp,
        StochasticAttentionOp,
        TokenAttentionOp,
        RouteTopKOp,
        MoEOp,
        YieldOp,
        DispatchOp,
        CombineOp,
        EncodeOp,
        DecodeOp,
        OnnxRegionOp,
    ],
    [SpikeTrainType, EncodedSpikesType, ResetModeAttr, LeakyResetModeAttr, PlacementAttr],
)

__all__ = [
    "AddOp",
    "AvgPoolOp",
    "BatchNormOp",
    "BernoulliOp",
    "CombineOp",
    "ConcatOp",
    "ConstantOp",
    "Conv2dOp",
    "CubaLIFOp",
    "DecodeOp",
    "DispatchOp",
    "DivOp",
    "EncodeOp",
    "EncodedSpikesType",
    "GlobalOp",
    "IFOp",
    "LIFOp",
    "LayerNormOp",
    "LeakyOp",
    "LeakyResetMode",
    "LeakyResetModeAttr",
    "LinearOp",
    "MatMulOp",
    "MaxPoolOp",
    "MoEOp",
    "MulOp",
    "OnnxRegionOp",
    "PlacementAttr",
    "ReduceMaxOp",
    "ReduceMeanOp",
    "ReduceSumOp",
    "ResetMode",
    "ResetModeAttr",
    "ReshapeOp",
    "RouteTopKOp",
    "SDSAOp",
    "SSAOp",
    "Spike",
    "SpikeTrainType",
    "SplitOp",
    "StochasticAttentionOp",
    "SubOp",
    "TokenAttentionOp",
    "TransposeOp",
    "WeightOp",
    "YieldOp",
]
