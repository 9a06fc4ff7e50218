#!/usr/bin/env python3
"""An independent Modbus RTU peer for the driver's interop test: pymodbus as slave 1 on PORT,
input and holding registers laid out like a Calex PyroUSB (0x12 object, 0x14 sensor, tenths °C).
Usage: pymodbus-slave.py PORT OBJECT_TENTHS AMBIENT_TENTHS"""
import sys
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext
try:
    from pymodbus.datastore import ModbusDeviceContext as Ctx
except ImportError:  # pymodbus < 3.10
    from pymodbus.datastore import ModbusSlaveContext as Ctx
from pymodbus.server import StartSerialServer
from pymodbus import FramerType

port, obj, amb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
regs = [0] * 0x40
regs[0x12] = regs[0x13] = obj
regs[0x14] = amb
# pymodbus blocks address from 1 in device contexts: register N is value index N+1.
block = lambda: ModbusSequentialDataBlock(0, [0] + regs)
ctx = Ctx(ir=block(), hr=block())
try:
    server = ModbusServerContext(devices={1: ctx}, single=False)
except TypeError:
    server = ModbusServerContext(slaves={1: ctx}, single=False)
StartSerialServer(context=server, port=port, baudrate=9600, framer=FramerType.RTU)
