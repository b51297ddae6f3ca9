using Drivers.Usb.Descriptors;

namespace Drivers.Usb.Hub
{
    /// <summary>Hub class requests, features and status bits (USB 2.0 11.24.2, USB 3.2 10.16.2).</summary>
    public static class HubClass
    {
        /// <summary>bmRequestType for hub-recipient class requests (table 11-15).</summary>
        public const byte ToHub = RequestType.DirectionOut | RequestType.TypeClass | RequestType.RecipientDevice;
        public const byte FromHub = RequestType.DirectionIn | RequestType.TypeClass | RequestType.RecipientDevice;
        public const byte ToPort = RequestType.DirectionOut | RequestType.TypeClass | RequestType.RecipientOther;
        public const byte FromPort = RequestType.DirectionIn | RequestType.TypeClass | RequestType.RecipientOther;

        public const int StatusSize = 4;

        // Feature selectors (table 11-17, USB 3.2 table 10-9).
        public const ushort CHubLocalPower = 0;
        public const ushort CHubOverCurrent = 1;
        public const ushort PortConnection = 0;
        public const ushort PortEnable = 1;
        public const ushort PortSuspend = 2;
        public const ushort PortOverCurrent = 3;
        public const ushort PortReset = 4;
        public const ushort PortLinkState = 5;
        public const ushort PortPower = 8;
        public const ushort PortLowSpeed = 9;
        public const ushort CPortConnection = 16;
        public const ushort CPortEnable = 17;
        public const ushort CPortSuspend = 18;
        public const ushort CPortOverCurrent = 19;
        public const ushort CPortReset = 20;
        public const ushort PortTest = 21;
        public const ushort PortIndicator = 22;
        public const ushort CPortLinkState = 25;
        public const ushort CPortConfigError = 26;
        public const ushort BhPortReset = 28;
        public const ushort CBhPortReset = 29;

        // wPortStatus bits (table 11-21; SuperSpeed table 10-10).
        public const ushort StatusConnection = 0x0001;
        public const ushort StatusEnable = 0x0002;
        public const ushort StatusSuspend = 0x0004;
        public const ushort StatusOverCurrent = 0x0008;
        public const ushort StatusReset = 0x0010;
        public const ushort StatusPower = 0x0100;
        public const ushort StatusLowSpeed = 0x0200;
        public const ushort StatusHighSpeed = 0x0400;
        public const ushort StatusTest = 0x0800;
        public const ushort StatusIndicator = 0x1000;
        /// <summary>SuperSpeed hubs report port power in bit 9.</summary>
        public const ushort SuperSpeedStatusPower = 0x0200;

        // wPortChange bits (table 11-22; SuperSpeed table 10-11).
        public const ushort ChangeConnection = 0x0001;
        public const ushort ChangeEnable = 0x0002;
        public const ushort ChangeSuspend = 0x0004;
        public const ushort ChangeOverCurrent = 0x0008;
        public const ushort ChangeReset = 0x0010;
        public const ushort ChangeBhReset = 0x0020;
        public const ushort ChangeLinkState = 0x0040;
        public const ushort ChangeConfigError = 0x0080;

        // wHubStatus / wHubChange bits (table 11-19, 11-20).
        public const ushort HubLocalPower = 0x0001;
        public const ushort HubOverCurrent = 0x0002;
    }

    /// <summary>Enumeration timings (USB 2.0 7.1.7.3, 7.1.7.5, 9.2.6.3; Linux hub.c).</summary>
    public static class HubTimings
    {
        /// <summary>TATTDB: connection must be stable this long (ms).</summary>
        public const uint DebounceStableMs = 100;
        /// <summary>Poll step while debouncing (Linux HUB_DEBOUNCE_STEP).</summary>
        public const uint DebounceStepMs = 25;
        /// <summary>Give up debouncing after this long (Linux HUB_DEBOUNCE_TIMEOUT).</summary>
        public const uint DebounceTimeoutMs = 2000;
        /// <summary>
        /// TDRSTR: root port reset (ms). Root hub emulations that time the reset in software (UHCI,
        /// EHCI) or repeat the hardware's shorter reset (OHCI) hold it this long.
        /// </summary>
        public const uint RootResetMs = 50;
        /// <summary>First looks at a port being reset (Linux HUB_SHORT_RESET_TIME, two polls).</summary>
        public const uint ShortResetMs = 10;
        public const int ShortResetPolls = 2;
        /// <summary>Later looks if the reset has not finished (Linux HUB_LONG_RESET_TIME).</summary>
        public const uint LongResetMs = 200;
        /// <summary>Polls of the port while waiting for the reset to finish.</summary>
        public const int ResetPolls = 6;
        /// <summary>Resets tried per port init (Linux PORT_RESET_TRIES).</summary>
        public const int ResetTries = 5;
        /// <summary>TRSTRCY: reset recovery before SET_ADDRESS (ms).</summary>
        public const uint ResetRecoveryMs = 10;
        /// <summary>TDSETADDR: recovery after SET_ADDRESS (ms).</summary>
        public const uint SetAddressRecoveryMs = 2;
        /// <summary>SET_ADDRESS attempts and the pause between them (Linux SET_ADDRESS_TRIES, 200 ms).</summary>
        public const int SetAddressTries = 2;
        public const uint SetAddressRetryMs = 200;
        /// <summary>First device descriptor read attempts per port init (Linux GET_DESCRIPTOR_TRIES).</summary>
        public const int FirstDescriptorTries = 2;
        /// <summary>Whole port initialisations; the port is power-cycled half way (Linux PORT_INIT_TRIES).</summary>
        public const int PortInitTries = 4;
        /// <summary>Timeout of the enumeration's control requests (Linux initial_descriptor_timeout).</summary>
        public const uint EnumerationTimeoutMs = 5000;
        /// <summary>GET_PORT_STATUS attempts and their timeout (Linux USB_STS_RETRIES, USB_STS_TIMEOUT).</summary>
        public const int PortStatusTries = 3;
        public const uint PortStatusTimeoutMs = 1000;
        /// <summary>Minimum power-on-to-good wait of external hubs when the hub descriptor says less (ms).</summary>
        public const uint MinimumPowerOnMs = 100;
        /// <summary>Longest period between polls of an external hub's status-change endpoint (ms).</summary>
        public const uint StatusPollMs = 16;
        /// <summary>
        /// Resets in a row of a hub whose port status cannot be read; after them the hub is left as it
        /// is (a hub that always fails would otherwise be reset and enumerated again forever).
        /// </summary>
        public const int MaxErrorResets = 3;
        /// <summary>Times a port that lost its power (without over-current) is powered again.</summary>
        public const int PowerRestoreTries = 3;
        /// <summary>After the tries are spent, a port that lost its power is tried again after this long (ms).</summary>
        public const uint PowerRestoreQuietMs = 5000;
        /// <summary>Pause after an over-current before powering the port again (ms).</summary>
        public const uint OverCurrentRecoveryMs = 500;
        /// <summary>First read size at address 0 (Linux "new scheme": 64 bytes).</summary>
        public const int FirstDescriptorLength = 64;
    }
}
