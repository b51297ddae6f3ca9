namespace Drivers.Usb.Hid
{
    /// <summary>Short item prefix layout (HID 1.11 6.2.2.2): bSize bits 0-1, bType bits 2-3, bTag bits 4-7.</summary>
    public static class HidItem
    {
        public const int SizeMask = 0x03;
        public const int TypeShift = 2;
        public const int TypeMask = 0x03;
        public const int TagShift = 4;
        /// <summary>bSize 3 means four data bytes.</summary>
        public const int SizeFourBytes = 3;
        /// <summary>Long item prefix (6.2.2.3): 0xFE, bDataSize, bLongItemTag, data.</summary>
        public const byte LongItemPrefix = 0xFE;
        public const int LongItemHeader = 3;

        // bType (6.2.2.2)
        public const int TypeMain = 0;
        public const int TypeGlobal = 1;
        public const int TypeLocal = 2;
        public const int TypeReserved = 3;

        // Main item tags (6.2.2.4)
        public const int MainInput = 0x8;
        public const int MainOutput = 0x9;
        public const int MainCollection = 0xA;
        public const int MainFeature = 0xB;
        public const int MainEndCollection = 0xC;

        // Global item tags (6.2.2.7)
        public const int GlobalUsagePage = 0x0;
        public const int GlobalLogicalMinimum = 0x1;
        public const int GlobalLogicalMaximum = 0x2;
        public const int GlobalPhysicalMinimum = 0x3;
        public const int GlobalPhysicalMaximum = 0x4;
        public const int GlobalUnitExponent = 0x5;
        public const int GlobalUnit = 0x6;
        public const int GlobalReportSize = 0x7;
        public const int GlobalReportId = 0x8;
        public const int GlobalReportCount = 0x9;
        public const int GlobalPush = 0xA;
        public const int GlobalPop = 0xB;

        // Local item tags (6.2.2.8)
        public const int LocalUsage = 0x0;
        public const int LocalUsageMinimum = 0x1;
        public const int LocalUsageMaximum = 0x2;
        public const int LocalDesignatorIndex = 0x3;
        public const int LocalDesignatorMinimum = 0x4;
        public const int LocalDesignatorMaximum = 0x5;
        public const int LocalStringIndex = 0x7;
        public const int LocalStringMinimum = 0x8;
        public const int LocalStringMaximum = 0x9;
        public const int LocalDelimiter = 0xA;
    }

    /// <summary>Data bits of Input/Output/Feature items (HID 1.11 6.2.2.5).</summary>
    public static class HidMainFlags
    {
        public const uint Constant = 1u << 0;
        public const uint Variable = 1u << 1;
        public const uint Relative = 1u << 2;
        public const uint Wrap = 1u << 3;
        public const uint NonLinear = 1u << 4;
        public const uint NoPreferred = 1u << 5;
        public const uint NullState = 1u << 6;
        public const uint Volatile = 1u << 7;
        public const uint BufferedBytes = 1u << 8;
    }

    /// <summary>Collection types (HID 1.11 6.2.2.6).</summary>
    public static class HidCollectionType
    {
        public const byte Physical = 0x00;
        public const byte Application = 0x01;
        public const byte Logical = 0x02;
        public const byte Report = 0x03;
        public const byte NamedArray = 0x04;
        public const byte UsageSwitch = 0x05;
        public const byte UsageModifier = 0x06;
    }

    /// <summary>Report types as used in wValue of GET/SET_REPORT (HID 1.11 7.2.1).</summary>
    public enum HidReportKind
    {
        Input = 1,
        Output = 2,
        Feature = 3,
    }

    /// <summary>HID class requests (HID 1.11 7.2) and interface subclass/protocol codes (4.2, 4.3).</summary>
    public static class HidRequest
    {
        public const byte GetReport = 0x01;
        public const byte GetIdle = 0x02;
        public const byte GetProtocol = 0x03;
        public const byte SetReport = 0x09;
        public const byte SetIdle = 0x0A;
        public const byte SetProtocol = 0x0B;

        /// <summary>Class request to the interface, host to device (7.2: bmRequestType 00100001b).</summary>
        public const byte ClassInterfaceOut = 0x21;
        /// <summary>Standard GET_DESCRIPTOR addressed to the interface (7.1: bmRequestType 10000001b).</summary>
        public const byte StandardInterfaceIn = 0x81;

        /// <summary>SET_PROTOCOL wValue (7.2.6).</summary>
        public const ushort ProtocolBoot = 0;
        public const ushort ProtocolReport = 1;

        /// <summary>Interface subclass 1 = boot interface (4.2); protocol 1 keyboard, 2 mouse (4.3).</summary>
        public const byte SubclassBoot = 1;
        public const byte ProtocolKeyboard = 1;
        public const byte ProtocolMouse = 2;
    }

    /// <summary>Usage pages (HID Usage Tables 1.x, section 3).</summary>
    public static class HidUsagePage
    {
        public const ushort GenericDesktop = 0x01;
        public const ushort Keyboard = 0x07;
        public const ushort Led = 0x08;
        public const ushort Button = 0x09;
        public const ushort Consumer = 0x0C;
        public const ushort Digitizer = 0x0D;
    }

    /// <summary>Extended usages (page &lt;&lt; 16 | id) the drivers look for.</summary>
    public static class HidUsage
    {
        public static uint Make(ushort page, ushort id) => ((uint)page << 16) | id;
        public static ushort Page(uint usage) => (ushort)(usage >> 16);
        public static ushort Id(uint usage) => (ushort)usage;

        // Generic Desktop page 0x01 (HUT 4)
        public const uint Pointer = 0x00010001;
        public const uint Mouse = 0x00010002;
        public const uint Keyboard = 0x00010006;
        public const uint Keypad = 0x00010007;
        public const uint X = 0x00010030;
        public const uint Y = 0x00010031;
        public const uint Wheel = 0x00010038;
        // Consumer page 0x0C (HUT 15): AC Pan, the horizontal wheel.
        public const uint AcPan = 0x000C0238;
        // LED page 0x08 (HUT 11)
        public const uint LedNumLock = 0x00080001;
        public const uint LedCapsLock = 0x00080002;
        public const uint LedScrollLock = 0x00080003;
    }

    /// <summary>Keyboard/Keypad page 0x07 usage ids (HID Usage Tables 1.x, section 10).</summary>
    public static class HidKey
    {
        public const int ErrorRollOver = 0x01;
        public const int PostFail = 0x02;
        public const int ErrorUndefined = 0x03;
        public const int A = 0x04;
        public const int Z = 0x1D;
        public const int Digit1 = 0x1E;
        public const int Digit0 = 0x27;
        public const int Enter = 0x28;
        public const int Escape = 0x29;
        public const int Backspace = 0x2A;
        public const int Tab = 0x2B;
        public const int Space = 0x2C;
        public const int CapsLock = 0x39;
        public const int F1 = 0x3A;
        public const int F12 = 0x45;
        public const int ScrollLock = 0x47;
        public const int Insert = 0x49;
        public const int Home = 0x4A;
        public const int PageUp = 0x4B;
        public const int Delete = 0x4C;
        public const int End = 0x4D;
        public const int PageDown = 0x4E;
        public const int RightArrow = 0x4F;
        public const int LeftArrow = 0x50;
        public const int DownArrow = 0x51;
        public const int UpArrow = 0x52;
        public const int NumLock = 0x53;
        public const int KeypadSlash = 0x54;
        public const int KeypadEnter = 0x58;
        public const int Keypad1 = 0x59;
        public const int Keypad2 = 0x5A;
        public const int Keypad3 = 0x5B;
        public const int Keypad4 = 0x5C;
        public const int Keypad6 = 0x5E;
        public const int Keypad7 = 0x5F;
        public const int Keypad8 = 0x60;
        public const int Keypad9 = 0x61;
        public const int Keypad0 = 0x62;
        public const int KeypadDot = 0x63;
        public const int KeypadEquals = 0x67;
        public const int LeftControl = 0xE0;
        public const int LeftShift = 0xE1;
        public const int LeftAlt = 0xE2;
        public const int LeftGui = 0xE3;
        public const int RightControl = 0xE4;
        public const int RightShift = 0xE5;
        public const int RightAlt = 0xE6;
        public const int RightGui = 0xE7;
    }

    /// <summary>Modifier bits, in the order of the boot keyboard's modifier byte (HID 1.11 8.3, B.1).</summary>
    public static class HidModifiers
    {
        public const int LeftControl = 1 << 0;
        public const int LeftShift = 1 << 1;
        public const int LeftAlt = 1 << 2;
        public const int LeftGui = 1 << 3;
        public const int RightControl = 1 << 4;
        public const int RightShift = 1 << 5;
        public const int RightAlt = 1 << 6;
        public const int RightGui = 1 << 7;
        public const int Control = LeftControl | RightControl;
        public const int Shift = LeftShift | RightShift;
        public const int Alt = LeftAlt | RightAlt;
    }

    /// <summary>Lock key state, and the bits of the boot keyboard's LED output report (HID 1.11 B.1).</summary>
    public static class HidLocks
    {
        public const int NumLock = 1 << 0;
        public const int CapsLock = 1 << 1;
        public const int ScrollLock = 1 << 2;
    }
}
